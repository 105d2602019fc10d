# Grill-Stats' development environment: one Redis server, RDB snapshots only, 512Mi,
# weekly verified backups.
# `terragrunt run --all apply` here (or in live/) generates the units into
# .terragrunt-stack/ and applies them in dependency order.

unit "cache" {
  source = "../../units/redis-cache"
  path   = "cache"
  values = {
    name             = "redis"
    namespace        = "grill-stats-dev"
    replicas         = 1
    memory_limit     = "512Mi"
    maxmemory_policy = "allkeys-lru"
    appendonly       = false
    persistence_size = "5Gi"
    labels           = { environment = "dev", "app.kubernetes.io/part-of" = "grill-stats" }
    backups = {
      enabled = true
      # A snapshot at each apply that changes the deployment goes here (credentials:
      # the AWS_* environment); REDIS_STACK_BACKUP_DESTINATION overrides it.
      destination = get_env("REDIS_STACK_BACKUP_DESTINATION", "s3://grill-stats-backups/dev")
      cron        = "0 3 * * 0" # Sundays 03:00
      keep        = 4
    }
  }
}

unit "app" {
  source = "../../units/app-env"
  path   = "app"
  values = {
    app        = "grill-stats"
    cache_path = "../cache"
  }
}

# Grill-Stats' development environment: one Redis server, RDB snapshots only, 512Mi.
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
    # Weekly backups, once redis_backup is in the module:
    # backups = { enabled = true, destination = "s3://grill-stats-backups/dev", cron = "0 3 * * 0", keep = 4 }
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

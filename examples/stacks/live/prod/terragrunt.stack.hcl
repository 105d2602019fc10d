# Grill-Stats' production environment: a primary with two replicas and three Sentinels,
# RDB + AOF, 2Gi, daily verified backups kept 7 days, dangerous commands taken away from
# clients, only the application's pods admitted.

unit "cache" {
  source = "../../units/redis-cache"
  path   = "cache"
  values = {
    name              = "redis"
    namespace         = "grill-stats-prod"
    replicas          = 3
    memory_limit      = "2Gi"
    requests          = { cpu = "250m", memory = "1Gi" }
    maxmemory_policy  = "allkeys-lru"
    appendonly        = true
    persistence_size  = "20Gi"
    disable_commands  = ["FLUSHALL", "FLUSHDB", "KEYS"]
    client_pod_labels = { "app.kubernetes.io/part-of" = "grill-stats" }
    labels            = { environment = "prod", "app.kubernetes.io/part-of" = "grill-stats" }
    sentinel = { enabled = true, replicas = 3, quorum = 2 }
    backups = {
      enabled      = true
      destination  = get_env("REDIS_STACK_BACKUP_DESTINATION", "s3://grill-stats-backups/prod")
      cron         = "0 2 * * *" # daily 02:00
      keep         = 7
      storage_size = "50Gi"
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

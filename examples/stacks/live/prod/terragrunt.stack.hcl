# Grill-Stats' production environment: a primary with two replicas, RDB + AOF, 2Gi,
# dangerous commands taken away from clients, only the application's pods admitted.

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
    # Sentinel and daily verified backups kept 7 days, once the module has them:
    # sentinel = { enabled = true, replicas = 3, quorum = 2 }
    # backups  = { enabled = true, destination = "s3://grill-stats-backups/prod", cron = "0 2 * * *", keep = 7 }
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

# Grill-Stats' development Redis: a single instance, 512Mi, RDB snapshots only, a 5Gi
# volume, weekly verified backups, reachable from the grill-stats pods. (Production, with Sentinel and daily
# verified backups, is the prod environment of examples/stacks.)

terraform {
  required_version = ">= 1.11"
  required_providers {
    redis = {
      source = "redis-k8s/redis"
    }
  }
}

variable "namespace" {
  type        = string
  default     = "grill-stats"
  description = "Namespace of the cache (created if missing)."
}

variable "storage_class" {
  type        = string
  default     = null
  description = "StorageClass of the data volume (the cluster's default when null)."
}

variable "backup_destination" {
  type        = string
  default     = "s3://grill-stats-backups/dev"
  description = "Where the snapshot taken at apply goes (file://, s3://, gs://, az://)."
}

# KUBECONFIG (else ~/.kube/config) and its current context.
provider "redis" {}

resource "redis_deployment" "redis" {
  name             = "redis"
  namespace        = var.namespace
  create_namespace = true
  image            = "redis:7.2-alpine"
  replicas         = 1

  resources = {
    requests = { cpu = "100m", memory = "256Mi" }
    limits   = { memory = "512Mi" }
  }

  config = {
    # 75% of the 512Mi limit (the chart's 768mb does not fit in it).
    maxmemory_percent_of_limit = 75
    maxmemory_policy           = "allkeys-lru"
    save                       = "900 1 300 10 60 10000"
    appendonly                 = false
    # Databases 0-7: sessions, live temperatures, device status, API cache,
    # ThermoWorks responses, rate limits, SSE connections, aggregates.
    databases = 8
    extra = {
      "lazyfree-lazy-eviction" = "yes"
    }
  }

  persistence = {
    size          = "5Gi"
    storage_class = var.storage_class
  }

  network_policy = {
    client_pod_labels = { "app.kubernetes.io/part-of" = "grill-stats" }
  }

  labels = { environment = "dev" }
}

# Weekly backups inside the cluster (Sundays 03:00), verified, the newest 4 kept on a
# claim of their own; and one snapshot into backup_destination when this is created.
resource "redis_backup" "weekly" {
  deployment_id = redis_deployment.redis.id
  destination   = var.backup_destination
  compression   = "zstd"

  schedule = {
    cron = "0 3 * * 0"
    keep = 4
  }
}

output "connection_url" {
  value = redis_deployment.redis.connection_url
}

output "password_secret" {
  value = redis_deployment.redis.password_secret
}

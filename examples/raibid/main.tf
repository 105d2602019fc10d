# raibid-cli's job queue: one Redis primary holding the `raibid:jobs` stream and its
# `raibid-workers` consumer group, with an append-only file synced every second, an 8Gi
# volume, a generated password and the metrics exporter (no ServiceMonitor), as the
# Bitnami chart and raibid-cli's installer set it up for the MVP.

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
  default     = "raibid-redis"
  description = "Namespace of the queue (created if missing)."
}

variable "storage_class" {
  type        = string
  default     = null
  description = "StorageClass of the data volume (the cluster's default when null, e.g. k3s's local-path)."
}

# KUBECONFIG (else ~/.kube/config) and its current context.
provider "redis" {}

resource "redis_deployment" "queue" {
  name             = "raibid-redis"
  namespace        = var.namespace
  create_namespace = true
  image            = "redis:7.2-alpine"
  replicas         = 1

  resources = {
    requests = { cpu = "100m", memory = "256Mi" }
    limits   = { cpu = "500m", memory = "512Mi" }
  }

  config = {
    # A queue must not lose jobs to eviction: writes fail instead when memory is full.
    maxmemory_percent_of_limit = 75
    maxmemory_policy           = "noeviction"
    appendonly                 = true
    appendfsync                = "everysec"
  }

  persistence = {
    size          = "8Gi"
    storage_class = var.storage_class
  }

  metrics = {
    enabled = true
  }

  # What `raibid-cli setup redis` ran: XGROUP CREATE raibid:jobs raibid-workers $ MKSTREAM.
  # Created at each apply if missing (a group deleted by hand shows in the plan), never
  # deleted when removed from here; the queue's entries are never touched.
  streams = [
    {
      name   = "raibid:jobs"
      groups = ["raibid-workers"]
      # Trimmed to about 10,000 entries at each apply; the producer keeps it there
      # between applies with XADD raibid:jobs MAXLEN ~ 10000 * ...
      maxlen = 10000
    },
  ]
}

output "connection_url" {
  description = "Where workers connect (no password in it)."
  value       = redis_deployment.queue.connection_url
}

output "password_secret" {
  description = "The Secret and key holding the generated password."
  value       = redis_deployment.queue.password_secret
}

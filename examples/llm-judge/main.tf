# LLM Judge's cache: one Redis primary with RDB snapshots and an append-only file on a
# 10Gi gp3 volume, a hardened pod, and a NetworkPolicy that admits only the
# redis-service pods. It replaces the Helm chart deployed from
# deploy/iac/terragrunt/dev/helm-releases.

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
  default     = "llm-judge"
  description = "Namespace of the cache (created if missing)."
}

variable "storage_class" {
  type        = string
  default     = "gp3"
  description = "StorageClass of the data volume (EBS gp3 through the CSI driver on EKS)."
}

variable "client_pod_labels" {
  type        = map(string)
  default     = { app = "redis-service" }
  description = "Labels of the pods allowed to connect."
}

# KUBECONFIG (else ~/.kube/config) and its current context.
provider "redis" {}

resource "redis_deployment" "cache" {
  name             = "redis"
  namespace        = var.namespace
  create_namespace = true
  image            = "redis:7.2-alpine"
  replicas         = 1

  resources = {
    requests = { cpu = "100m", memory = "256Mi" }
    limits   = { cpu = "500m", memory = "512Mi" }
  }

  config = {
    maxmemory        = "256mb"
    maxmemory_policy = "allkeys-lru"
    # RDB: after 900 s if a key changed, 300 s if 10 did, 60 s if 10000 did.
    save = "900 1 300 10 60 10000"
    # AOF, fsync every second, rewritten at 100% growth above 64mb.
    appendonly  = true
    appendfsync = "everysec"
    extra = {
      "auto-aof-rewrite-percentage" = "100"
      "auto-aof-rewrite-min-size"   = "64mb"
    }
  }

  persistence = {
    size          = "10Gi"
    storage_class = var.storage_class
  }

  # Hardened by default: uid/gid 999, non-root, no capabilities, no privilege
  # escalation, seccomp RuntimeDefault; the root filesystem read-only too (Redis
  # writes only to /data).
  security = {
    read_only_root_filesystem = true
  }

  network_policy = {
    client_pod_labels = var.client_pod_labels
  }

  disable_commands = ["FLUSHALL", "FLUSHDB", "DEBUG"]
  anti_affinity    = "preferred"
}

output "connection_url" {
  value = redis_deployment.cache.connection_url
}

output "password_secret" {
  value = redis_deployment.cache.password_secret
}

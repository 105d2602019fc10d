# The quickstart: one Redis primary with two replicas, hardened, with a generated
# password kept in a Kubernetes Secret (never in Terraform state).

terraform {
  required_providers {
    redis = {
      source = "redis-k8s/redis"
    }
  }
}

variable "kubeconfig" {
  type        = string
  description = "Path of the kubeconfig of the cluster to deploy to."
}

variable "namespace" {
  type        = string
  default     = "redis-quickstart"
  description = "Namespace to deploy to (created if missing)."
}

provider "redis" {
  kubernetes = {
    config_path = var.kubeconfig
  }
}

resource "redis_deployment" "cache" {
  name             = "cache"
  namespace        = var.namespace
  create_namespace = true
  replicas         = 3

  resources = {
    requests = { cpu = "100m", memory = "128Mi" }
    limits   = { memory = "256Mi" }
  }

  config = {
    maxmemory        = "192mb"
    maxmemory_policy = "allkeys-lru"
    appendonly       = true
    appendfsync      = "everysec"
  }

  persistence = {
    size = "1Gi"
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

output "redis_version" {
  value = redis_deployment.cache.redis_version
}

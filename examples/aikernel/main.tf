# AIKernel's distributed cache: a Redis primary with two replicas and three Sentinels
# that fail over automatically, spread over nodes, a disruption budget keeping two of
# three up, the redis_exporter sidecar scraped through a ServiceMonitor, alerts as a
# PrometheusRule, and a NetworkPolicy admitting only the catalog-api pods.

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
  default     = "aikernel"
  description = "Namespace of the cache (created if missing)."
}

variable "storage_class" {
  type        = string
  default     = "fast-ssd"
  description = "StorageClass of the data volumes."
}

variable "prometheus_operator" {
  type        = bool
  default     = true
  description = "Create the ServiceMonitor and PrometheusRule (the monitoring.coreos.com CRDs must be installed)."
}

# KUBECONFIG (else ~/.kube/config) and its current context.
provider "redis" {}

resource "redis_deployment" "cache" {
  name             = "redis"
  namespace        = var.namespace
  create_namespace = true
  image            = "redis:7.2-alpine"
  replicas         = 3

  resources = {
    requests = { cpu = "250m", memory = "512Mi" }
    limits   = { memory = "1Gi" }
  }

  config = {
    maxmemory_percent_of_limit = 75
    maxmemory_policy           = "allkeys-lru"
    save                       = "60 10000"
    appendonly                 = true
    appendfsync                = "everysec"
  }

  persistence = {
    size          = "10Gi"
    storage_class = var.storage_class
  }

  anti_affinity = "required" # one data pod per node

  pod_disruption_budget = {
    max_unavailable = 1 # two of three stay up through drains
  }

  network_policy = {
    client_pod_labels = { app = "catalog-api" }
    # The namespace Prometheus scrapes from.
    metrics_namespace_labels = { "kubernetes.io/metadata.name" = "monitoring" }
  }

  metrics = {
    enabled         = true
    service_monitor = var.prometheus_operator
    prometheus_rule = var.prometheus_operator
    # A Grafana dashboard for the sidecar of kube-prometheus-stack's Grafana.
    dashboard        = true
    dashboard_folder = "AIKernel"
    alerts = {
      memory_percent = 85 # AIKernel's cache warns before LRU eviction starts
      labels         = { team = "aikernel" }
      # A cache under allkeys-lru evicts by design once full.
      disabled = ["RedisEvicting"]
    }
  }

  disable_commands = ["FLUSHALL", "FLUSHDB", "DEBUG"]
}

resource "redis_sentinel" "ha" {
  deployment_id = redis_deployment.cache.id
  replicas      = 3 # odd: a majority survives one lost node
  quorum        = 2

  down_after_milliseconds = 5000
  failover_timeout        = 60000
  parallel_syncs          = 1

  anti_affinity = "required"
}

# For Sentinel-aware clients (StackExchange.Redis: serviceName=mymaster and the
# Sentinels' host); the password is in the Secret named by password_secret.
output "sentinel_url" {
  value = redis_sentinel.ha.connection_url
}

output "password_secret" {
  value = redis_deployment.cache.password_secret
}

output "primary_pod" {
  value = redis_sentinel.ha.current_primary_pod
}

# A Redis cache: one redis_deployment, hardened by default, with its password in a
# Kubernetes Secret (never in state).

resource "redis_deployment" "this" {
  name             = var.name
  namespace        = var.namespace
  create_namespace = var.create_namespace
  image            = var.image
  replicas         = var.replicas

  resources = {
    requests = var.requests
    limits   = { memory = var.memory_limit }
  }

  config = {
    maxmemory_percent_of_limit = var.maxmemory_percent_of_limit
    maxmemory_policy           = var.maxmemory_policy
    appendonly                 = var.appendonly
    appendfsync                = "everysec"
    save                       = var.save
  }

  persistence = {
    size          = var.persistence_size
    storage_class = var.storage_class
  }

  network_policy = {
    client_pod_labels = var.client_pod_labels
  }

  metrics = {
    enabled = var.metrics
  }

  disable_commands = var.disable_commands
  anti_affinity    = var.anti_affinity
  labels           = var.labels
}

resource "redis_sentinel" "this" {
  count = var.sentinel.enabled ? 1 : 0

  deployment_id = redis_deployment.this.id
  replicas      = var.sentinel.replicas
  quorum        = var.sentinel.quorum
  anti_affinity = var.anti_affinity
}

resource "redis_backup" "this" {
  count = var.backups.enabled ? 1 : 0

  deployment_id = redis_deployment.this.id
  destination   = var.backups.destination
  compression   = "zstd"

  schedule = {
    cron         = var.backups.cron
    keep         = var.backups.keep
    storage_size = var.backups.storage_size
  }
}

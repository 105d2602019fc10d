# A cache for the LLM Judge services: one primary and two read replicas, RDB + AOF
# on gp3 volumes, dangerous commands disabled, a hardened pod (the default).
resource "redis_deployment" "cache" {
  name             = "redis"
  namespace        = "llm-judge"
  create_namespace = true
  image            = "redis:7.2-alpine"
  replicas         = 3

  resources = {
    requests = { cpu = "250m", memory = "1Gi" }
    limits   = { cpu = "1", memory = "1Gi" }
  }

  config = {
    maxmemory        = "768mb" # below limits.memory, leaving room for forks and buffers
    maxmemory_policy = "allkeys-lru"
    appendonly       = true
    appendfsync      = "everysec"
    save             = "3600 1 300 100"
    timeout          = 300
  }

  persistence = {
    size              = "10Gi"
    storage_class     = "gp3"
    retain_on_destroy = true
  }

  disable_commands = ["FLUSHALL", "FLUSHDB", "DEBUG"]

  network_policy = {
    client_namespace_labels = { "kubernetes.io/metadata.name" = "llm-judge" }
  }

  anti_affinity = "required"

  labels = {
    team        = "llm-judge"
    environment = "prod"
  }

  timeouts {
    create = "15m"
    update = "15m"
    delete = "10m"
  }
}

output "redis_url" {
  value = redis_deployment.cache.connection_url
}

output "redis_password_secret" {
  value = redis_deployment.cache.password_secret
}

# The password from outside Terraform, never kept in state or plans: an ephemeral
# variable (e.g. TF_VAR_queue_password) feeds the write-only password_wo.
variable "queue_password" {
  type      = string
  ephemeral = true
  sensitive = true
}

# A standalone Streams job queue with AOF fsync every second.
resource "redis_deployment" "queue" {
  name             = "jobs"
  namespace        = "raibid"
  create_namespace = true # without it, a namespace that does not exist fails the plan

  config = {
    appendonly  = true
    appendfsync = "everysec"
  }

  auth = {
    password_wo         = var.queue_password
    password_wo_version = 1 # bump it with a new password: rotated without downtime
    # The old password keeps working this long after the Secret holds the new one,
    # for clients to re-read it; then it is removed.
    rotation_grace_seconds = 90
  }
}

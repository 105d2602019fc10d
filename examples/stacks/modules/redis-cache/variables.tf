variable "name" {
  type        = string
  default     = "redis"
  description = "Name of the deployment and prefix of its Kubernetes objects."
}

variable "namespace" {
  type        = string
  description = "Namespace of the deployment."
}

variable "create_namespace" {
  type        = bool
  default     = true
  description = "Create the namespace when it does not exist (it is never deleted)."
}

variable "image" {
  type        = string
  default     = "redis:7.2-alpine"
  description = "Redis or Valkey image."
}

variable "replicas" {
  type        = number
  default     = 1
  description = "1 for a standalone server, more for a primary with read replicas."
}

variable "memory_limit" {
  type        = string
  default     = "512Mi"
  description = "Memory limit of the Redis container; maxmemory is a share of it."
}

variable "requests" {
  type        = map(string)
  default     = { cpu = "100m", memory = "256Mi" }
  description = "Requested resources of the Redis container."
}

variable "maxmemory_percent_of_limit" {
  type        = number
  default     = 75
  description = "maxmemory as a percentage of memory_limit (the rest is Redis's own overhead)."
}

variable "maxmemory_policy" {
  type        = string
  default     = "allkeys-lru"
  description = "Eviction policy."
}

variable "appendonly" {
  type        = bool
  default     = false
  description = "AOF persistence (appendfsync everysec)."
}

variable "save" {
  type        = string
  default     = "900 1 300 10 60 10000"
  description = "RDB snapshot schedule; \"\" for none."
}

variable "persistence_size" {
  type        = string
  default     = "1Gi"
  description = "Size of each pod's data claim."
}

variable "storage_class" {
  type        = string
  default     = null
  description = "StorageClass of the claims (the cluster's default when null)."
}

variable "client_pod_labels" {
  type        = map(string)
  default     = {}
  description = "Labels of the pods allowed to connect (every pod of the namespace when empty)."
}

variable "disable_commands" {
  type        = list(string)
  default     = []
  description = "Commands taken away from clients."
}

variable "anti_affinity" {
  type        = string
  default     = "preferred"
  description = "Spreading of the pods over nodes: none, preferred or required."
}

variable "metrics" {
  type        = bool
  default     = false
  description = "Run the redis_exporter sidecar and a metrics Service."
}

variable "labels" {
  type        = map(string)
  default     = {}
  description = "Extra labels on every object."
}

# High availability and backups, both off by default.
variable "sentinel" {
  type = object({
    enabled  = optional(bool, false)
    replicas = optional(number, 3)
    quorum   = optional(number)
  })
  default     = {}
  description = "Sentinels that fail over to a replica when the primary is lost (needs replicas >= 2)."
}

variable "backups" {
  type = object({
    enabled = optional(bool, false)
    # Where the snapshot taken at each apply goes (file://, s3://, gs://, az://).
    destination = optional(string)
    # Recurring backups inside the cluster, verified, the newest `keep` kept on a claim.
    cron         = optional(string, "0 2 * * *")
    keep         = optional(number, 7)
    storage_size = optional(string, "5Gi")
  })
  default     = {}
  description = "Verified backups: one at apply time into destination, and scheduled ones in the cluster."

  validation {
    condition     = !var.backups.enabled || var.backups.destination != null
    error_message = "backups.destination is needed when backups are enabled."
  }
}

output "id" {
  value       = redis_deployment.this.id
  description = "<namespace>/<name>."
}

output "namespace" {
  value       = redis_deployment.this.namespace
  description = "Namespace of the deployment."
}

output "host" {
  value       = redis_deployment.this.host
  description = "Cluster DNS name of the client Service (the primary)."
}

output "port" {
  value       = redis_deployment.this.port
  description = "Redis port."
}

output "connection_url" {
  value       = redis_deployment.this.connection_url
  description = "redis://host:port, without the password."
}

output "password_secret" {
  value       = redis_deployment.this.password_secret
  description = "The Secret and key holding the clients' password."
}

output "redis_version" {
  value       = redis_deployment.this.redis_version
  description = "Version reported by Redis itself."
}

output "primary_pod" {
  value       = redis_deployment.this.primary_pod
  description = "The primary's pod."
}

output "sentinel_url" {
  value       = one(redis_sentinel.this[*].connection_url)
  description = "redis+sentinel://... for Sentinel-aware clients; null without Sentinel."
}

output "backup" {
  value = one([for b in redis_backup.this : {
    url    = b.url
    sha256 = b.sha256
    keys   = b.keys
  }])
  description = "The snapshot taken at apply time (for restore_from); null without backups."
}

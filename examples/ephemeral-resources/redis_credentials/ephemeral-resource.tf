# The clients' credentials of a deployment, read when Terraform needs them and never
# stored in state or plan. Referencing the deployment's id orders the read after its
# creation: in the run that creates it, the values are known only at apply.
resource "redis_deployment" "cache" {
  name      = "redis"
  namespace = "llm-judge"
}

ephemeral "redis_credentials" "cache" {
  deployment_id = redis_deployment.cache.id
}

# Usable wherever Terraform accepts ephemeral values: a write-only attribute, e.g. a
# second deployment whose clients use the same password...
resource "redis_deployment" "cache_batch" {
  name      = "redis-batch"
  namespace = "llm-judge"
  auth = {
    password_wo         = ephemeral.redis_credentials.cache.password
    password_wo_version = 1
  }
}

# ...or another provider's configuration and write-only arguments, e.g.
#
#   resource "kubernetes_secret_v1" "app" {
#     metadata { name = "app-redis", namespace = "llm-judge" }
#     data_wo         = { REDIS_URL = ephemeral.redis_credentials.cache.url }
#     data_wo_revision = 1
#   }

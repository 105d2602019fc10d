# A deployment is imported by its id, "<namespace>/<name>":
terraform import redis_deployment.cache llm-judge/redis

# Or, with an import block in the configuration (then `terraform plan` and `apply`):
#
# import {
#   to = redis_deployment.cache
#   id = "llm-judge/redis"
# }

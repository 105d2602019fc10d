# Sentinels are imported by the id of their deployment, "<namespace>/<deployment>":
terraform import redis_sentinel.ha aikernel/redis

# Or, with an import block in the configuration (then `terraform plan` and `apply`):
#
# import {
#   to = redis_sentinel.ha
#   id = "aikernel/redis"
# }

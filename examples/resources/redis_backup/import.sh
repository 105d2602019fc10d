# A backup is imported by its object's URL (as `url` shows it); the deployment, the
# destination and the facts are read from the manifest next to the object:
terraform import redis_backup.before_release s3://backups/redis/llm-judge/cache/20261201T150405Z-k3j9x2ab.rdb.zst

# Or, with an import block in the configuration (then `terraform plan` and `apply`):
#
# import {
#   to = redis_backup.before_release
#   id = "s3://backups/redis/llm-judge/cache/20261201T150405Z-k3j9x2ab.rdb.zst"
# }

terraform {
  required_version = ">= 1.11"
  required_providers {
    # One source address for both CLIs: Terraform expands it to
    # registry.terraform.io/redis-k8s/redis, OpenTofu to registry.opentofu.org/redis-k8s/redis
    # (a filesystem mirror serving both host names covers both; see the README).
    redis = {
      source = "redis-k8s/redis"
    }
  }
}

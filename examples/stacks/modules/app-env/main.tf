# The environment an application's container needs to reach a redis-cache: the URL as
# a value, the password by reference to its Secret (never the password itself). Feed
# the output to a Helm release's values or a kubernetes_deployment's env.

terraform {
  required_version = ">= 1.11"
  # Nothing here uses the redis provider, but the stack's root.hcl configures it in
  # every unit, and a provider block needs its source declared (else the CLIs look
  # for hashicorp/redis). Unused, it costs a short start of the provider per plan.
  required_providers {
    redis = {
      source = "redis-k8s/redis"
    }
  }
}

variable "app" {
  type        = string
  description = "The application's name (used as the prefix of the variables)."
}

variable "connection_url" {
  type        = string
  description = "The cache's redis://host:port."
}

variable "password_secret" {
  type = object({
    name = string
    key  = string
  })
  description = "The Secret and key holding the cache's client password."
}

locals {
  prefix = upper(replace(var.app, "-", "_"))
}

output "env" {
  description = "Container env entries (Kubernetes' EnvVar shape)."
  value = [
    { name = "${local.prefix}_REDIS_URL", value = var.connection_url },
    {
      name = "${local.prefix}_REDIS_PASSWORD"
      valueFrom = {
        secretKeyRef = { name = var.password_secret.name, key = var.password_secret.key }
      }
    },
  ]
}

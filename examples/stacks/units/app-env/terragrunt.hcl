# The application's Redis settings, from the cache unit's outputs.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "${dirname(find_in_parent_folders("root.hcl"))}/modules//app-env"
}

dependency "cache" {
  config_path = values.cache_path

  # Before the cache exists (validate, or the first plan of a new environment) its
  # outputs are unknown: these stand in for them. apply always reads the real ones.
  mock_outputs = {
    connection_url  = "redis://redis.mock.svc.cluster.local:6379"
    password_secret = { name = "redis-auth", key = "password" }
  }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

inputs = {
  app             = values.app
  connection_url  = dependency.cache.outputs.connection_url
  password_secret = dependency.cache.outputs.password_secret
}

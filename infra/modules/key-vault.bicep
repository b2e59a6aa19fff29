// Key Vault for client secrets, deployed only when the share app authenticates with a secret
// (appCredential = 'secret'). RBAC authorization, no access policies; the operator identity
// writes and reads the secrets it creates.

param name string
param location string
param tags object
@description('Object id of the operator identity.')
param principalId string

@description('Purge protection keeps a deleted vault (and its secrets) recoverable for the retention period and cannot be turned off again.')
param enablePurgeProtection bool = true

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

// enablePurgeProtection is left out rather than set to false: the API refuses false once it
// has been true.
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: union(
    {
      tenantId: tenant().tenantId
      sku: {
        family: 'A'
        name: 'standard'
      }
      enableRbacAuthorization: true
      enableSoftDelete: true
      softDeleteRetentionInDays: softDeleteRetentionInDays
      publicNetworkAccess: 'Enabled'
    },
    enablePurgeProtection ? { enablePurgeProtection: true } : {}
  )
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'imageshare operator identity: share app client secrets'
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri

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

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Flex without a virtual network reaches the vault over its public endpoint; RBAC authorization admits only the operator identity's token
  // checkov:skip=CKV_AZURE_189: same as CKV_AZURE_109
  // checkov:skip=CKV_AZURE_110: purge protection is on unless enablePurgeProtection is false; checkov cannot evaluate that conditional
  // checkov:skip=CKV_AZURE_42: soft delete is always on and purge protection is on by default; checkov cannot evaluate the conditional
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // null (left out) rather than false: the API refuses false once it has been true.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

// On the vault: the identity creates a secret per share app at run time, so no narrower scope
// exists ahead of time; the vault is deployed for this app alone.
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

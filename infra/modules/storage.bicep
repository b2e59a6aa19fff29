// The Functions storage account: host state (AzureWebJobsStorage), the Flex deployment package
// container and the handler's request table. Shared keys are off; everything goes through the
// operator identity.

param name string
param location string
param tags object
@description('Object id of the operator identity.')
param principalId string
@description('Blob container Flex Consumption deploys the package to.')
param deploymentContainerName string
@description('Table the handler keeps share requests in (IMAGESHARE_TABLE_NAME).')
param tableName string

var roles = {
  // The host's own blob use (keys, leases) and the deployment package; the minimum the
  // Functions docs give for identity-based AzureWebJobsStorage.
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // The handler's request store, and the host's diagnostic events table.
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // No Storage Queue Data Contributor: the app has no blob triggers and no storage queues.
}

resource account 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  // checkov:skip=CKV_AZURE_35: Flex without a virtual network reaches its storage over the public endpoint; shared keys are off, so every call needs an Entra token with a data role
  // checkov:skip=CKV_AZURE_59: same as CKV_AZURE_35; anonymous blob access is off (allowBlobPublicAccess: false)
  // checkov:skip=CKV_AZURE_206: LRS is enough for host state and in-flight requests; the package is rebuilt from source and requests are re-submittable
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }

  resource blobServices 'blobServices' = {
    name: 'default'

    resource deployments 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }

  resource tableServices 'tableServices' = {
    name: 'default'

    // The handler creates it too when missing; creating it here makes it visible and lets a
    // first request succeed without waiting for that.
    resource requests 'tables' = {
      name: tableName
    }
  }
}

// On the account: the host's own blobs (keys, leases) are in containers it creates at run time,
// so a container-scoped Blob Data Owner would not cover them; the account holds nothing else.
resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in items(roles): {
    name: guid(account.id, principalId, role.value)
    scope: account
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
      principalId: principalId
      principalType: 'ServicePrincipal'
      description: 'imageshare operator identity: ${role.key}'
    }
  }
]

output name string = account.name
output id string = account.id
@description('The deployment package container URL, as functionAppConfig.deployment.storage.value wants it.')
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainerName}'

// The operator identity's right to delegate the gallery's resource group with Azure Lighthouse
// (the `lighthouse` strategy), deployed at the gallery's subscription. Only with
// lighthouseDelegator=true.
//
// The Delegate step deploys Microsoft's resource-group template at subscription scope: the
// registration definition lives on the subscription and the assignment on the resource group.
// Lighthouse's onboarding doc asks the deployer for Microsoft.Authorization/roleAssignments/write
// "for the subscription being onboarded (or which contains the resource groups being
// onboarded)", as Owner has it. Instead of Owner this custom role holds exactly what the step
// calls (src/steps/lighthouse/preflight.rs REQUIRED_ACTIONS, plus the reads and deletes of the
// same resources). roleAssignments/write on the subscription is still broad: it lets the
// identity grant any role there, which is why this is off by default and documented in
// docs/deploy.md.

targetScope = 'subscription'

@description('Object id of the operator identity.')
param principalId string

var roleName = 'imageshare Lighthouse delegator (${subscription().subscriptionId})'

resource delegator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'imageshare-lighthouse-delegator')
  properties: {
    roleName: roleName
    description: 'Deploy, read and remove the Azure Lighthouse delegation of the image gallery resource group (imageshare lighthouse strategy).'
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Resources/deployments/read'
          'Microsoft.Resources/deployments/write'
          'Microsoft.Resources/deployments/operationstatuses/read'
          'Microsoft.Resources/subscriptions/resourceGroups/read'
          'Microsoft.Resources/subscriptions/resourceGroups/resources/read'
          'Microsoft.ManagedServices/registrationDefinitions/read'
          'Microsoft.ManagedServices/registrationDefinitions/write'
          'Microsoft.ManagedServices/registrationDefinitions/delete'
          'Microsoft.ManagedServices/registrationAssignments/read'
          'Microsoft.ManagedServices/registrationAssignments/write'
          'Microsoft.ManagedServices/registrationAssignments/delete'
          'Microsoft.ManagedServices/operationStatuses/read'
          'Microsoft.Authorization/permissions/read'
          'Microsoft.Authorization/roleAssignments/write'
        ]
        notActions: []
      }
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, delegator.id)
  properties: {
    roleDefinitionId: delegator.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'imageshare operator identity: delegate the gallery resource group with Azure Lighthouse'
  }
}

output roleDefinitionId string = delegator.id

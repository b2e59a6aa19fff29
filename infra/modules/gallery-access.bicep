// The operator identity's rights on the image gallery's resource group, deployed at that
// resource group (it may be in another subscription of the same tenant).
//
// IssueCredentials grants each share app Reader on the image definition it may use. Doing that
// needs Microsoft.Authorization/roleAssignments/write, which Owner or User Access Administrator
// would give for every role. Instead the identity gets Role Based Access Control Administrator
// with an ABAC condition: it may create and delete role assignments only for Reader and only
// for service principals ("Constrain roles and principal types", Microsoft Learn: Examples to
// delegate Azure role assignment management with conditions).

@description('Object id of the operator identity.')
param principalId string

@description('Let the identity assign Reader to users as well (strategy rbac-guest: the invited guest), not only to service principals.')
param allowUserPrincipals bool = false

var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var rbacAdministratorRoleId = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'

// Writes are judged on the request (@Request), deletes on the existing assignment
// (@Resource); each action that is not the one constrained passes its half untouched.
var principalTypes = allowUserPrincipals ? '\'ServicePrincipal\', \'User\'' : '\'ServicePrincipal\''
var onlyReaderForServicePrincipals = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${readerRoleId}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {${principalTypes}})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${readerRoleId}} AND @Resource[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {${principalTypes}}))'

// Reading the gallery image (catalog checks, the image definition scope). The RBAC
// Administrator role carries */read as well; Reader is kept explicit so read access does not
// ride on the delegation role.
resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, readerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'imageshare operator identity: read the gallery images it shares'
  }
}

resource rbacAdministrator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, rbacAdministratorRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', rbacAdministratorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    condition: onlyReaderForServicePrincipals
    conditionVersion: '2.0'
    description: 'imageshare operator identity: grant share apps Reader on gallery images, nothing else'
  }
}

output readerAssignmentId string = reader.id
output rbacAdministratorAssignmentId string = rbacAdministrator.id

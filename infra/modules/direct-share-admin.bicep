// The operator identity's right to share the image gallery directly with a consumer's tenant
// (the `direct-share` strategy), deployed at the gallery's resource group. Only with
// directShareAdmin=true.
//
// ShareGallery and UnshareGallery call POST {gallery}/share, which needs
// Microsoft.Compute/galleries/share/action. The built-in Compute Gallery Sharing Admin role
// holds exactly the gallery reads and that action (the direct-share doc: "only a subscription
// Owner or a holder of Compute Gallery Sharing Admin can share"); Owner would also let the
// identity grant any role. It is assigned on the gallery's resource group, which the catalog
// already confines every image to; a gallery of its own in that group is the narrowest
// deployment. Off by default: a shared gallery shows all its images to the consumer's tenant.

@description('Object id of the operator identity.')
param principalId string

var sharingAdminRoleId = '1ef6a3be-d0ac-425d-8c01-acb62866290b'

resource sharingAdmin 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, sharingAdminRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sharingAdminRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'imageshare operator identity: share the image gallery directly with consumer tenants'
  }
}

output sharingAdminAssignmentId string = sharingAdmin.id

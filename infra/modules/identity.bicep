// The operator identity: the one principal imageshare acts as in the image owner's tenant.
// User-assigned (not the site's system identity) so it exists before the Function App, its
// role assignments and Graph app roles can be granted first, and it survives a re-created app.

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId

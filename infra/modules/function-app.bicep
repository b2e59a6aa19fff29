// The Function App on Flex Consumption: runtime `custom` (the Rust handler), the operator
// identity attached, the package deployed from a blob container with that identity, and every
// app setting the handler reads. No keys or connection strings anywhere in the settings.

param planName string
param appName string
param location string
param tags object
@description('azd finds the app to deploy to by this tag (azure.yaml service name).')
param azdServiceName string

@description('Resource id of the operator identity.')
param identityId string
@description('Client id of the operator identity.')
param identityClientId string

param storageAccountName string
@description('URL of the blob container the package is deployed to.')
param deploymentContainerUrl string
param serviceBusNamespace string
param applicationInsightsConnectionString string

@description('The handler\'s own settings (IMAGESHARE_*); the connection settings are added here.')
param handlerSettings object

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  // checkov:skip=CKV_AZURE_225: not every Flex Consumption region has zones; a lost instance is replaced and its Service Bus work redelivered
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_222: the consumer's admin reaches the consent callback from the internet, so the app must be public
  // checkov:skip=CKV_AZURE_17: the consumer's admin signs in through Entra from a browser that has no client certificate
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero; a Service Bus delivery waits for an instance instead of failing over
  // checkov:skip=CKV_AZURE_213: App Service health check replaces instances of a fixed plan; Flex manages its instances itself
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in app settings (IMAGESHARE_WEBHOOK_SECRET) resolve with the
    // operator identity; the app has no system-assigned identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      // The Flex stack for custom handlers (Flex stacks API: runtime custom, version 1.0).
      // FUNCTIONS_WORKER_RUNTIME is not set on Flex: this replaces it.
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

// Deployment goes through the Entra-authenticated publish endpoint (azd, az functionapp
// deployment, func publish); nothing needs the legacy publishing user names and passwords.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// A separate child resource, not siteConfig.appSettings, so the public URL can use the host
// name the platform assigned to the site.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the consumer's admin reaches the consent callback from the internet, so the app must be public
  // checkov:skip=CKV_AZURE_13: App Service Authentication would put Entra sign-in in front of the consumer's admin and of webhook callers; the API uses function keys
  // checkov:skip=CKV_AZURE_88: Flex Consumption runs from a blob container (identity auth); an Azure Files share would need account keys
  // checkov:skip=CKV_AZURE_80: no .NET: the app is a Rust custom handler
  // checkov:skip=CKV_AZURE_63: App Service HTTP logs are a file-system log Flex does not keep; requests are logged to Application Insights
  // checkov:skip=CKV_AZURE_65: detailed error pages are a file-system log Flex does not keep; errors go to Application Insights
  // checkov:skip=CKV_AZURE_66: failed request tracing is a file-system log Flex does not keep; failures go to Application Insights
  parent: site
  name: 'appsettings'
  properties: union(handlerSettings, {
    // Host storage with the operator identity (the handler reads the account name too, for its
    // request table).
    AzureWebJobsStorage__accountName: storageAccountName
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    // Service Bus triggers and the handler's sender, with the operator identity.
    ServiceBusConnection__fullyQualifiedNamespace: serviceBusNamespace
    ServiceBusConnection__credential: 'managedidentity'
    ServiceBusConnection__clientId: identityClientId
    // Telemetry with Entra authentication (the component has local auth disabled).
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    IMAGESHARE_PUBLIC_BASE_URL: 'https://${site.properties.defaultHostName}'
    IMAGESHARE_IDENTITY_CLIENT_ID: identityClientId
  })
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'

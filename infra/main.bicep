// imageshare in an image owner's subscription: the Function App (Rust custom handler on Flex
// Consumption), its operator identity, the storage account, Service Bus, monitoring, optionally
// Key Vault, and the identity's rights on the image gallery and in Microsoft Graph.
//
// Deploy with `azd up` (azure.yaml, main.parameters.json) or
// `az deployment sub create --location <region> --template-file infra/main.bicep --parameters ...`.
// See docs/deploy.md.

targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Environment name (azd AZURE_ENV_NAME). Seeds the resource names and the resource group name.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption: az functionapp list-flexconsumption-locations.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create (or reuse). Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('The images this deployment may share (IMAGESHARE_IMAGE_CATALOG): catalog name -> full image version resource id. Any other image is refused.')
param imageCatalog { *: string }

@description('Resource id of the resource group that holds the Azure Compute Gallery: /subscriptions/<subscription id>/resourceGroups/<name>. It may be in another subscription of this tenant; every image in imageCatalog must be inside it.')
param galleryResourceGroupId string

@description('How the consent link reaches the consumer\'s admin: mail (Graph sendMail from mailSender), webhook (POST to webhookUrl) or status (only in the request\'s status document).')
@allowed([
  'mail'
  'webhook'
  'status'
])
param notifyMode string = 'mail'

@description('Mailbox (UPN or user id in this tenant) consent links are sent from. Required when notifyMode is mail.')
param mailSender string = ''

@description('Endpoint consent links are POSTed to. Required when notifyMode is webhook.')
param webhookUrl string = ''

// Standard Webhooks: each POST carries webhook-id, webhook-timestamp and webhook-signature, an
// HMAC-SHA256 keyed with this secret, so the receiver can check it came from this app.
@secure()
@description('With notifyMode webhook: the Standard Webhooks secret (whsec_ + base64 of a 24-64 byte key) the POSTs are signed with, or better a Key Vault reference to it: @Microsoft.KeyVault(SecretUri=https://<vault>.vault.azure.net/secrets/<name>) (the operator identity needs Key Vault Secrets User on that secret).')
param webhookSecret string = ''

@description('Hours the consumer\'s admin has to consent and grant the role before the request expires.')
@minValue(1)
@maxValue(2160)
param consentDeadlineHours int = 168

@description('Hours after a request\'s creation past which re-sending its consent link (POST .../consent-link) no longer extends the deadline; at least consentDeadlineHours.')
@minValue(1)
@maxValue(4320)
param consentDeadlineMaxHours int = 720

@description('Hours before the consent deadline an unanswered consent link is sent once more (a fresh link; the first stops working); 0 for no reminder. Less than consentDeadlineHours.')
@minValue(0)
@maxValue(2159)
param consentReminderHours int = 0

@description('NCRONTAB schedule of the Reconcile timer (six fields, UTC): re-sends lost steps, expires and fails overdue requests, sends outboxes left behind.')
param reconcileSchedule string = '0 */5 * * * *'

@description('How each share app authenticates: federated (a federated credential trusting the operator identity; no secret exists) or secret (a client secret kept in a Key Vault deployed for it).')
@allowed([
  'federated'
  'secret'
])
param appCredential string = 'federated'

@description('Lifetime of a share app\'s client secret, in days (appCredential = secret only).')
@minValue(1)
@maxValue(730)
param secretLifetimeDays int = 30

@description('Grant the operator identity its Microsoft Graph app roles here. Needs a deployer who is Privileged Role Administrator or Global Administrator; set false to leave that step to one (docs/deploy.md).')
param grantGraphAppRoles bool = true

@description('Let the operator identity deploy Azure Lighthouse delegations of the gallery resource group (strategy lighthouse): a custom role on the gallery subscription with the deployment, Microsoft.ManagedServices and roleAssignments/write actions Lighthouse onboarding needs. Off by default: roleAssignments/write on a subscription is broad.')
param lighthouseDelegator bool = false

@description('Let the operator identity share the image gallery directly with consumer tenants (strategy direct-share): Compute Gallery Sharing Admin on the gallery resource group. Off by default: a directly shared gallery shows every image in it to the consumer tenant.')
param directShareAdmin bool = false

@description('Strategy rbac-guest: let the operator identity invite consumers\' users as B2B guests and delete the ones it invited (Graph User.Invite.All and User.ReadWrite.All, with grantGraphAppRoles), and assign Reader to those guests (the gallery ABAC condition then allows principal type User). Off by default: both Graph permissions are tenant-wide.')
param rbacGuest bool = false

// Least privilege by default: Mail.Send granted in Entra ID lets the identity send as every
// mailbox of the tenant. The default leaves it to Exchange Online RBAC for Applications, which
// scopes Application Mail.Send to the one sender mailbox (docs/deploy.md, "Scoping Mail.Send";
// neither Bicep nor Graph can make that assignment). true is an explicit opt-in to the
// tenant-wide grant.
@description('With notifyMode mail, grant Graph Mail.Send in Entra ID, which covers EVERY mailbox of the tenant. Default false: scope Application Mail.Send to the sender mailbox with Exchange Online RBAC for Applications instead (docs/deploy.md).')
param grantMailSendInEntra bool = false

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances Flex Consumption scales the app to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'imageshare'
}
var azdServiceName = 'imageshare'

var names = {
  resourceGroup: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  identity: 'id-imageshare-${resourceToken}'
  logAnalytics: 'log-imageshare-${resourceToken}'
  applicationInsights: 'appi-imageshare-${resourceToken}'
  storage: 'stimgshare${resourceToken}'
  serviceBus: 'sb-imageshare-${resourceToken}'
  keyVault: 'kv-imgsh-${resourceToken}' // vault names are at most 24 characters
  plan: 'plan-imageshare-${resourceToken}'
  functionApp: 'func-imageshare-${resourceToken}'
  deploymentContainer: 'app-package'
  table: 'ShareRequests'
  eventsTopic: 'share-events'
}

// /subscriptions/<id>/resourceGroups/<name>
var galleryScope = split(galleryResourceGroupId, '/')
var gallerySubscriptionId = galleryScope[2]
var galleryResourceGroupName = galleryScope[4]

var useKeyVault = appCredential == 'secret'
// Known before the vault exists, so the settings need no output of a conditional module.
var keyVaultUri = 'https://${names.keyVault}${environment().suffixes.keyvaultDns}/'

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'imageshare-identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'imageshare-monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'imageshare-storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    deploymentContainerName: names.deploymentContainer
    tableName: names.table
  }
}

module serviceBus 'modules/service-bus.bicep' = {
  name: 'imageshare-service-bus'
  scope: rg
  params: {
    name: names.serviceBus
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    eventsTopicName: names.eventsTopic
  }
}

module keyVault 'modules/key-vault.bicep' = if (useKeyVault) {
  name: 'imageshare-key-vault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module galleryAccess 'modules/gallery-access.bicep' = {
  name: 'imageshare-gallery-access-${resourceToken}'
  scope: resourceGroup(gallerySubscriptionId, galleryResourceGroupName)
  params: {
    principalId: identity.outputs.principalId
    allowUserPrincipals: rbacGuest
  }
}

// The `lighthouse` strategy: the right to delegate the gallery's resource group (see the
// module for why it is on the subscription and why it is off by default).
module lighthouseDelegator 'modules/lighthouse-delegator.bicep' = if (lighthouseDelegator) {
  name: 'imageshare-lighthouse-delegator-${resourceToken}'
  scope: subscription(gallerySubscriptionId)
  params: {
    principalId: identity.outputs.principalId
  }
}

// The `direct-share` strategy: the right to share the gallery with a tenant (see the module).
module directShareAdmin 'modules/direct-share-admin.bicep' = if (directShareAdmin) {
  name: 'imageshare-direct-share-admin-${resourceToken}'
  scope: resourceGroup(gallerySubscriptionId, galleryResourceGroupName)
  params: {
    principalId: identity.outputs.principalId
  }
}

module graphAppRoles 'modules/graph-app-roles.bicep' = if (grantGraphAppRoles) {
  name: 'imageshare-graph-app-roles'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    grantMailSend: notifyMode == 'mail' && grantMailSendInEntra
    grantGuestInvite: rbacGuest
  }
}

// The handler's settings (src/config.rs); the connection and identity settings are added by
// the module. Only the settings of the chosen modes are set.
var keyVaultSettings = useKeyVault ? {
  IMAGESHARE_KEY_VAULT_URL: keyVaultUri
  IMAGESHARE_SECRET_LIFETIME_DAYS: string(secretLifetimeDays)
} : {}
var mailSettings = notifyMode == 'mail' ? { IMAGESHARE_MAIL_SENDER: mailSender } : {}
var webhookSettings = notifyMode == 'webhook' ? {
  IMAGESHARE_WEBHOOK_URL: webhookUrl
  IMAGESHARE_WEBHOOK_SECRET: webhookSecret
} : {}
var handlerSettings = union({
  IMAGESHARE_IMAGE_CATALOG: string(imageCatalog)
  IMAGESHARE_OWNER_TENANT_ID: tenant().tenantId
  // Part of every share app's uniqueName: two deployments (azd environments) in this tenant
  // get two apps per consumer tenant instead of overwriting one app's redirect URI and FIC.
  IMAGESHARE_DEPLOYMENT_ID: resourceToken
  IMAGESHARE_APP_CREDENTIAL: appCredential
  IMAGESHARE_STORE: 'table'
  IMAGESHARE_TABLE_NAME: names.table
  IMAGESHARE_EVENTS_TOPIC: names.eventsTopic
  IMAGESHARE_NOTIFY: notifyMode
  IMAGESHARE_CONSENT_DEADLINE_HOURS: string(consentDeadlineHours)
  IMAGESHARE_CONSENT_DEADLINE_MAX_HOURS: string(consentDeadlineMaxHours)
  IMAGESHARE_CONSENT_REMINDER_HOURS: string(consentReminderHours)
  // The Reconcile timer's NCRONTAB schedule (functions/Reconcile/function.json reads it; the
  // host refuses to start if it is missing): every five minutes.
  IMAGESHARE_RECONCILE_SCHEDULE: reconcileSchedule
}, keyVaultSettings, mailSettings, webhookSettings)

module functionApp 'modules/function-app.bicep' = {
  name: 'imageshare-function-app'
  scope: rg
  params: {
    planName: names.plan
    appName: names.functionApp
    location: location
    tags: tags
    azdServiceName: azdServiceName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    handlerSettings: handlerSettings
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
  // The host starts as soon as the app has settings; give it its data-plane and gallery rights
  // first (storage, Service Bus and monitoring are already implied by the outputs above).
  dependsOn: [
    keyVault
    galleryAccess
  ]
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd stores them in the environment's .env)
// ---------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
@description('The app\'s base URL; the API is under /api.')
output FUNCTION_APP_URL string = functionApp.outputs.url
@description('Client id of the operator identity (IMAGESHARE_IDENTITY_CLIENT_ID).')
output OPERATOR_IDENTITY_CLIENT_ID string = identity.outputs.clientId
@description('Object id of the operator identity\'s service principal: the principal of its role assignments and Graph app roles, and the subject its federated credentials trust.')
output OPERATOR_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output SHARE_EVENTS_SUBSCRIPTION string = '${serviceBus.outputs.eventsTopicName}/subscriptions/${serviceBus.outputs.eventsSubscriptionName}'
output KEY_VAULT_URI string = useKeyVault ? keyVaultUri : ''
output GRAPH_APP_ROLES_GRANTED bool = grantGraphAppRoles

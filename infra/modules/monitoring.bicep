// Log Analytics + workspace-based Application Insights. Local (instrumentation key) ingestion
// is disabled: the host sends telemetry with the operator identity
// (APPLICATIONINSIGHTS_AUTHENTICATION_STRING), which needs Monitoring Metrics Publisher.

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object
@description('Object id of the operator identity.')
param principalId string

@description('Days Log Analytics keeps data.')
param retentionInDays int = 30

var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

// On the Application Insights component only, not the workspace or the resource group: the host
// publishes its telemetry there with Entra authentication (local auth is off), and nothing else.
resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'imageshare: Functions host telemetry with Entra authentication'
  }
}

@description('Not a secret: with local auth disabled the key in it cannot ingest anything.')
output connectionString string = appInsights.properties.ConnectionString
output name string = appInsights.name

// The pipeline's Service Bus namespace: one queue per step (functions/*/function.json) and the
// status events topic. Standard tier, because topics need it. SAS is disabled: the Functions
// host and the handler both connect with the operator identity.

param name string
param location string
param tags object
@description('Object id of the operator identity.')
param principalId string

@description('One queue per pipeline step; the names the functions\' serviceBusTrigger bindings use.')
param queueNames array = [
  'share-requests'
  'issue-credentials'
  'send-consent-link'
  'confirm-consent'
  'create-vm'
  'revoke-access'
  'release-access'
  'delegate'
  'end-delegation'
  'share-gallery'
  'unshare-gallery'
  'grant-guest'
  'remove-guest'
]

@description('The topic status events are published to (IMAGESHARE_EVENTS_TOPIC).')
param eventsTopicName string = 'share-events'

@description('A subscription on the events topic for the operator\'s automation.')
param eventsSubscriptionName string = 'automation'

@description('Peek-lock duration (ISO 8601, 1 to 5 minutes). The host renews locks while an invocation runs (host.json maxAutoLockRenewalDuration), so this only bounds how soon a message held by a crashed instance comes back.')
param lockDuration string = 'PT1M'

@description('How long an undelivered step message lives before it is dead-lettered.')
param messageTimeToLive string = 'P14D'

@description('How long an event waits for a subscriber before it is dropped (ISO 8601). Events are notifications, not the record (the status document is): a subscription nobody reads must not fill the topic, after which every publish would fail.')
param eventTimeToLive string = 'P2D'

// Azure Service Bus Data Owner: the triggers receive, the handler sends (steps, scheduled
// re-checks, events), and the trigger docs say scaling needs Manage rights or Data Owner;
// with only Receiver the scale controller falls back to a peek-based estimate.
var serviceBusDataOwner = '090c5cfd-751d-490a-894a-3ce6f1109419'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queue in queueNames: {
    parent: namespace
    name: queue
    properties: {
      lockDuration: lockDuration
      maxDeliveryCount: 10
      // MessageId = request + step + attempt; a repeated send inside the window is dropped.
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT10M'
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: messageTimeToLive
      requiresSession: false
      enablePartitioning: false
      maxSizeInMegabytes: 1024
    }
  }
]

resource topic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: eventsTopicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    defaultMessageTimeToLive: eventTimeToLive
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }

  // Expired events are dropped, not dead-lettered: a dead-letter queue nobody drains counts
  // against the topic's size like the subscription itself.
  resource subscription 'subscriptions' = {
    name: eventsSubscriptionName
    properties: {
      lockDuration: lockDuration
      maxDeliveryCount: 10
      deadLetteringOnMessageExpiration: false
      deadLetteringOnFilterEvaluationExceptions: false
      defaultMessageTimeToLive: eventTimeToLive
      requiresSession: false
    }
  }
}

// On the namespace: the app uses every queue and the topic of this namespace, and nothing else
// lives in it (one namespace per deployment), so per-entity assignments would grant the same.
resource dataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, principalId, serviceBusDataOwner)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'imageshare operator identity: triggers, step messages and status events'
  }
}

output name string = namespace.name
@description('The namespace host name (serviceBusEndpoint is https://<host>:443/; no scheme, no port), for ServiceBusConnection__fullyQualifiedNamespace.')
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '/')[2], ':')[0]
output eventsTopicName string = topic.name
output eventsSubscriptionName string = topic::subscription.name

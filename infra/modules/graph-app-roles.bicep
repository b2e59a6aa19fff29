// Microsoft Graph application permissions for the operator identity, granted as app role
// assignments on the Microsoft Graph service principal (what "admin consent" does for an app
// registration; a managed identity has no consent prompt).
//
// - Application.ReadWrite.OwnedBy: create the per-request share apps, their service principals,
//   federated credentials and secrets, and manage only the apps it owns.
// - Mail.Send (only when consent links go by mail): send as the configured mailbox. Graph scopes
//   this to every mailbox; restrict it in Exchange Online (see docs/deploy.md).
// - User.Invite.All and User.ReadWrite.All (only with rbacGuest): invite the consumer's user as a
//   B2B guest (POST /invitations, least privileged: User.Invite.All) and delete a guest imageshare
//   invited once no request uses it (DELETE /users/{id}: Graph lists no narrower application
//   permission than User.ReadWrite.All for it). Both are tenant-wide, which is why they are off
//   by default.
//
// Deploying this needs AppRoleAssignment.ReadWrite.All + Application.Read.All for the signed-in
// deployer, which in practice means Privileged Role Administrator or Global Administrator. Set
// grantGraphAppRoles = false in main and use the az rest commands in docs/deploy.md when the
// deployer does not hold that role.

extension microsoftGraphV1

@description('Object id of the operator identity (its service principal).')
param principalId string

@description('Grant Mail.Send (consent links sent with Graph sendMail).')
param grantMailSend bool

@description('Grant User.Invite.All and User.ReadWrite.All (strategy rbac-guest: invite the consumer\'s user as a guest, and delete the guests imageshare invited when their access ends).')
param grantGuestInvite bool = false

var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'

resource microsoftGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: microsoftGraphAppId
}

// Looked up by value rather than hard-coded; for reference, in the public cloud
// Application.ReadWrite.OwnedBy is 18a4783c-866b-4cc7-a460-3d5e5662c884 and Mail.Send is
// b633e1c5-b582-4048-a93e-9f11b44c7e96.
var graphAppRoles = microsoftGraph.appRoles

resource applicationOwnedBy 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  principalId: principalId
  resourceId: microsoftGraph.id
  appRoleId: filter(graphAppRoles, role => role.value == 'Application.ReadWrite.OwnedBy')[0].id
}

resource mailSend 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (grantMailSend) {
  principalId: principalId
  resourceId: microsoftGraph.id
  appRoleId: filter(graphAppRoles, role => role.value == 'Mail.Send')[0].id
}

resource userInvite 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (grantGuestInvite) {
  principalId: principalId
  resourceId: microsoftGraph.id
  appRoleId: filter(graphAppRoles, role => role.value == 'User.Invite.All')[0].id
}

resource userReadWrite 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (grantGuestInvite) {
  principalId: principalId
  resourceId: microsoftGraph.id
  appRoleId: filter(graphAppRoles, role => role.value == 'User.ReadWrite.All')[0].id
}

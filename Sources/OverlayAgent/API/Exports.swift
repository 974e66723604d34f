// The API's JSON bodies live in GrapevineAPI so that the CLI's client code needs neither the
// daemon nor Foundation; the agent's users see them through OverlayAgent as before.
@_exported public import GrapevineAPI

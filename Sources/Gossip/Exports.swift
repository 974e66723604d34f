// The vocabulary of the public API, and nothing else of the core and the codec: a daemon writes
// `import Gossip` alone, and the core's protocol types (`Message`, `Input`, `Output`,
// `Settings`' neighbours...) stay out of its namespace. Tests and the simulator import
// `GossipCore` directly. Diagnostics types (the core's `Counters`, the codecs' `WireCounters`
// and drop reasons) are reached through `NodeStatistics` only: their values print by name,
// and a daemon never needs to spell their types.
@_exported public import struct GossipCore.Address
@_exported public import struct GossipCore.Member
@_exported public import enum GossipCore.MemberStatus
@_exported public import struct GossipCore.MembershipEvent
@_exported public import struct GossipCore.Tags
@_exported public import struct GossipCore.Settings
@_exported public import struct GossipCore.BroadcastCaps
@_exported public import enum GossipCore.Limits
@_exported public import struct GossipWire.Keyring
@_exported public import class GossipWire.SecretKey
@_exported public import struct GossipWire.ClusterLabel
@_exported public import struct GossipWire.KeyFingerprint
@_exported public import enum GossipWire.KeyOperation
@_exported public import struct GossipCore.UserEvent
@_exported public import struct GossipCore.QueryRequest
@_exported public import enum GossipCore.QueryFilter
@_exported public import struct GossipCore.FilterPattern
@_exported public import struct GossipCore.FilterPatternError
@_exported public import struct GossipCore.IncomingQuery
@_exported public import struct GossipCore.QueryResponder
@_exported public import enum GossipCore.QueryEnd
@_exported public import enum GossipCore.RequestError
@_exported public import struct GossipCore.StateRow
@_exported public import struct GossipCore.RowChange

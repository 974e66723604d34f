// The public API speaks in the core's and the codec's types (Member, Address, Settings, Keyring...);
// re-exporting them lets a daemon write `import Gossip` alone.
@_exported public import GossipCore
@_exported public import GossipWire

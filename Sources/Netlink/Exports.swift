// Rows and links are spoken of in these address types; re-exporting them lets a user of the
// kernel side write `import Netlink` alone.
@_exported public import Addresses

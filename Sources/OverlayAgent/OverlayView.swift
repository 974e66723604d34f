import Overlay

/// What the Docker driver reads of the overlay in one call (`OverlayController.view()`): a copy, true when
/// it was taken; the driver decides on it and asks the overlay's owner for every change.
struct OverlayView: Sendable {
    /// The replica's winning network definitions, deleted ones included.
    var definitions: [VNI: NetworkDefinition]
    /// The networks this host takes part in (configured ones and Docker's).
    var devices: [VNI: NetworkDevice]
    /// The MTU the overlay's devices get from the underlay, and the underlay's own.
    var deviceMTU: UInt32
    var underlayMTU: Int
}

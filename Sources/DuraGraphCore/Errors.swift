/// Implemented by storage errors so the HTTP layer can tell an outage (503) from a bug (500)
/// without depending on the storage module.
public protocol DatabaseUnavailable: Error {
    var isUnavailable: Bool { get }
}

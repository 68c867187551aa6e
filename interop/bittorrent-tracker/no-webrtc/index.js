// The tracker tests announce with numwant 0: no peer connection is made, so
// nothing here is ever called.
const unavailable = () => { throw new Error('WebRTC is not available in these tests') }
export const RTCPeerConnection = unavailable
export const RTCSessionDescription = unavailable
export const RTCIceCandidate = unavailable
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate }

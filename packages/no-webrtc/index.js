// WebRTC stand-in: any attempt to open a WebRTC connection fails loudly. Yard's distributor
// uses TCP peers (and HTTP trackers) only.
class WebRtcUnavailable {
  constructor() {
    throw new Error("WebRTC is not available");
  }
}
export const RTCPeerConnection = WebRtcUnavailable;
export const RTCSessionDescription = WebRtcUnavailable;
export const RTCIceCandidate = WebRtcUnavailable;
export const RTCDataChannel = WebRtcUnavailable;
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate, RTCDataChannel };

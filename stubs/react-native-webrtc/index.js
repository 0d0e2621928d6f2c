throw new Error('react-native-webrtc is not installed: peerup runs on Node, where @libp2p/webrtc uses node-datachannel')

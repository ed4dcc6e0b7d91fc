//! A controller's end of the USP Unix domain socket MTP, with its own framing written from
//! TR-369 (so that it checks the agent's, which comes from `usp-core`): `_USP`, a 4-byte
//! big-endian length, then TLVs of a type byte, a 4-byte big-endian length and the value.

use rusp_lib::usp_decoder::try_decode_record;
use rusp_lib::usp_record::mod_Record::OneOfrecord_type;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

use super::{AGENT, CTRL, WAIT};

/// TLV type of a Handshake (an Endpoint ID).
pub(crate) const HANDSHAKE: u8 = 1;
/// TLV type of an Error text.
pub(crate) const ERROR: u8 = 2;
/// TLV type of a USP Record.
pub(crate) const RECORD: u8 = 3;

/// One frame holding one TLV.
pub(crate) fn frame(tlv_type: u8, value: &[u8]) -> Vec<u8> {
    let len = u32::try_from(value.len()).unwrap();
    let mut out = b"_USP".to_vec();
    out.extend_from_slice(&(len + 5).to_be_bytes());
    out.push(tlv_type);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// A connected Unix socket speaking USP frames.
pub(crate) struct UdsLink {
    stream: UnixStream,
}

impl UdsLink {
    pub(crate) fn new(stream: UnixStream) -> Self {
        Self { stream }
    }

    /// Writes raw bytes.
    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sends a Record frame.
    pub(crate) async fn send(&mut self, record: Vec<u8>) {
        self.write(&frame(RECORD, &record)).await;
    }

    /// The next frame's single TLV, as (type, value); `None` at the end of the stream.
    pub(crate) async fn next_tlv(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut header = [0; 8];
        self.stream.read_exact(&mut header).await.ok()?;
        assert_eq!(&header[..4], b"_USP", "frame magic");
        let len = u32::from_be_bytes(header[4..].try_into().unwrap()) as usize;
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).await.unwrap();
        let value_len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        assert_eq!(value_len + 5, len, "one TLV per frame");
        Some((body[0], body[5..].to_vec()))
    }

    /// The next Record (other TLVs are skipped); `None` at the end of the stream.
    pub(crate) async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            let (tlv_type, value) = self.next_tlv().await?;
            if tlv_type == RECORD {
                return Some(value);
            }
        }
    }
}

/// Exchanges Handshakes (ours first when `we_connect`), then expects the UDSConnect Record.
pub(crate) async fn handshake(link: &mut UdsLink, we_connect: bool) {
    if we_connect {
        link.write(&frame(HANDSHAKE, CTRL.as_bytes())).await;
    }
    let (tlv_type, value) = tokio::time::timeout(WAIT, link.next_tlv())
        .await
        .expect("a Handshake in time")
        .expect("a Handshake");
    assert_eq!((tlv_type, value.as_slice()), (HANDSHAKE, AGENT.as_bytes()));
    if !we_connect {
        link.write(&frame(HANDSHAKE, CTRL.as_bytes())).await;
    }
    let record = tokio::time::timeout(WAIT, link.next())
        .await
        .expect("a UDSConnect Record in time")
        .unwrap();
    let record = try_decode_record(&record).unwrap();
    assert_eq!(
        (record.from_id.as_ref(), record.to_id.as_ref()),
        (AGENT, CTRL)
    );
    assert!(
        matches!(record.record_type, OneOfrecord_type::uds_connect(_)),
        "the first Record is a UDSConnect Record"
    );
}

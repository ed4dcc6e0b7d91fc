//! HTTP/1.1 as the reference agent frames it (`examples` `http1.rs`, on ureq-proto's state
//! machines): any bytes read as a request to the connection-request server, or as the
//! response to the ACS client's POST, with its body, fed in pieces of a size the input picks.
//! Nothing panics or loops; a body never yields more bytes than were fed; a head is never
//! taken from more than [`MAX_HEAD`] bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ureq_proto::client::{Call, RecvResponseResult, SendRequestResult};
use ureq_proto::http::Request;
use ureq_proto::server::{RecvRequestResult, Reply};

/// The agent's bound on a head (`http1.rs`).
const MAX_HEAD: usize = 16 * 1024;

/// Reads a body with `read(input, output) -> (used, written)` from `input` in `step`-sized
/// pieces, as the agent does; the bytes written.
fn body(
    mut input: &[u8],
    step: usize,
    mut read: impl FnMut(&[u8], &mut [u8]) -> Result<(usize, usize), ureq_proto::Error>,
) -> usize {
    let (mut total, mut fed) = (0, 0);
    let mut available = input.len().min(step);
    loop {
        let piece = input.get(..available).unwrap_or(input);
        let mut out = vec![0; piece.len()];
        let Ok((used, written)) = read(piece, &mut out) else {
            return total;
        };
        assert!(used <= piece.len() && written <= out.len());
        total += written;
        fed += used;
        input = input.get(used..).unwrap_or_default();
        available -= used;
        if used == 0 && written == 0 {
            if available == input.len() {
                return total;
            }
            available = input.len().min(available + step);
        }
        assert!(total <= fed, "a body yields no more bytes than were fed");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(split % 64) + 1;
    let head = data.get(..MAX_HEAD).unwrap_or(data);

    // The connection-request server.
    if let Ok(mut reply) = Reply::new() {
        if let Ok((used, Some(_))) = reply.try_request(head) {
            assert!(used <= head.len());
            let rest = data.get(used..).unwrap_or_default();
            if let Some(RecvRequestResult::RecvBody(mut reply)) = reply.proceed() {
                body(rest, step, |input, output| reply.read(input, output));
            }
        }
    }

    // The ACS client, after its POST.
    let request = Request::post("http://acs.example.net/cwmp")
        .body(())
        .expect("a request");
    let Ok(call) = Call::new(request) else { return };
    let mut call = call.proceed();
    let mut out = vec![0; 1024];
    while !call.can_proceed() {
        if call.write(&mut out).is_err() {
            return;
        }
    }
    let Ok(Some(SendRequestResult::RecvResponse(mut call))) = call.proceed() else {
        return;
    };
    let mut input = head;
    loop {
        match call.try_response(input, false) {
            Ok((used, Some(_))) => {
                input = data
                    .get(head.len() - input.len() + used..)
                    .unwrap_or_default();
                break;
            }
            Ok((used, None)) if used > 0 => input = input.get(used..).unwrap_or_default(),
            _ => return,
        }
    }
    if let Some(RecvResponseResult::RecvBody(mut call)) = call.proceed() {
        body(input, step, |input, output| call.read(input, output));
    }
});

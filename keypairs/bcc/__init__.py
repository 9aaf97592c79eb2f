"""Everything that speaks to BCC: the bce-auth-v1 signer, the transport and the client."""

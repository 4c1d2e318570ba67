"""Schedule exporters: Chakra ETs (for astra-run), MSCCL XML (for the MSCCL runtime), link-utilisation plots."""

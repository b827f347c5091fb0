"""frontdoor: the product's command line, which wires the three services together."""

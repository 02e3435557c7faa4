"""The built-in flavors, one module per library; each imports its library only when used."""

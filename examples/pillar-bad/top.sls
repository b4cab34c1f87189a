base:
  '*':
    - spectrum

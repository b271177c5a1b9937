"""Seeded fuzzing of the gateway (the acceptance fuzz test of issue 8).

- ``outlook``: what a correct gateway must do with a case, narrowed by each mutation;
- ``statements``: valid statements with their known answers;
- ``descriptors``: descriptor JSON mutations shared by HTTP and WebSocket cases;
- ``http_cases`` / ``ws_cases``: seeded cases, one ``random.Random`` per case index,
  so any case can be rebuilt alone from (seed, index);
- ``frames``: a raw WebSocket frame writer that can break every rule of RFC 6455;
- ``wire``: raw-socket exchanges (h11 and wsproto parse what the gateway answers);
- ``oracle``: turns an exchange into violations and a compact summary.
"""

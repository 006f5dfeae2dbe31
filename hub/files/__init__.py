"""Diagnostics uploads and firmware downloads, with the request cycles around them.

- storage (``store``, ``names``): files under ``[files] data_dir`` by station and request, with
  size limits, a quota, sanitised names, no traversal and no overwrite; metadata (station,
  request, size, SHA-256, time) in ``stored_files``;
- uploads (``http_uploads``, ``ftp``): HTTP PUT, multipart POST and FTP, each authorised by the
  one-time token in the location the hub gave the station (``tokens``);
- cycles (``diagnostics``, ``firmware``): GetDiagnostics/GetLog to the file's arrival,
  UpdateFirmware/SignedUpdateFirmware to Installed, each queryable with its history;
- operator routes (``routes``) and the wiring (``runtime.add_file_routes``).

This is core (hub.app calls ``add_file_routes``); the management API's command routes
(``hub.management.firmware_routes``) start the cycles.
"""

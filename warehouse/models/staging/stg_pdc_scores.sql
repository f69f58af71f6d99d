-- CMS's own profile score per NPI (Provider Data Catalog), for reconciliation.
select
    cast(performance_year as integer) as performance_year,
    npi,
    pdc_final_score
from {{ source('qpp', 'pdc_scores') }}
